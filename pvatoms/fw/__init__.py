"""FireWorks adapter: runs the study graphs of :mod:`pvatoms.studies` on a LaunchPad.

- :mod:`pvatoms.fw.workflows`: a study graph -> a FireWorks ``Workflow`` (no study logic here);
- :mod:`pvatoms.fw.tasks`: the Firetasks, wrapping the graph's step and analysis executors;
- :mod:`pvatoms.fw.store`: the durable embedded LaunchPad (locked, atomic transactions);
- :mod:`pvatoms.fw.launcher`: local launching with lost-run recovery;
- :mod:`pvatoms.fw.launchpads`: the embedded store or a MongoDB LaunchPad;
- :mod:`pvatoms.fw.operations`: submit, launch, status, rerun, report, qlaunch (return documents);
- :mod:`pvatoms.fw.progress`: the progress line.
"""
