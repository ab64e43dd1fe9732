"""The steps of each flow, as plain functions that activities call.

Each function takes the process ``Runtime`` and the activity's small JSON input, does its work
(streaming bulk data between the APIs and storage, never returning it), records what happened in
the audit trail, and returns a small JSON-able dict: ids, counts, sums, references. Activities in
``activities/`` only decode their input and call these, so every step can be tested without the
Functions runtime.
"""
