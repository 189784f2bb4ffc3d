"""The pairwise preference study of the M3T paper's appendix A.1 (Fig. A.2), runnable by anyone.

``m3t-bench study pairs`` builds ``PAIRS.json`` from two systems' renders (:mod:`.pairs`); ``m3t-bench study
serve`` runs a local web app that shows each rater the pairs in a random order with a random left/right
arrangement and records their answers to the paper's two questions in SQLite (:mod:`.app`, :mod:`.store`);
``m3t-bench study report`` turns the votes into preference shares with 95% intervals, a sign test, a table
and a bar chart (:mod:`.stats`, :mod:`.report`).
"""
