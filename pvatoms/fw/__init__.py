"""FireWorks layer: a thin shell over :mod:`pvatoms.jobs`.

- :mod:`pvatoms.fw.store`: the durable embedded LaunchPad (locked, atomic transactions);
- :mod:`pvatoms.fw.launcher`: local launching with lost-run recovery;
- :mod:`pvatoms.fw.tasks`: the Firetasks (one job each; joins for analyses);
- :mod:`pvatoms.fw.workflows`: study specs (``workflows/*.yaml``) -> workflows;
- :mod:`pvatoms.fw.commands`: submit, launch, status, rerun, report, qlaunch.
"""
