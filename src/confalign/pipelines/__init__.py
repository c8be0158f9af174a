"""Workflows above the parts they drive: the demo, and training methods end to end (data from
an eval run, training, before/after evaluation, report). The parts (``evaluate``, ``train``,
``report``) know nothing of these."""
