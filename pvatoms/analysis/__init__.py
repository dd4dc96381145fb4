"""Analysis of result documents: tables and figures for papers. Never runs a calculation."""
