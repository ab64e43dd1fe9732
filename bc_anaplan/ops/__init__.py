"""Operations: what operators and analysts use to run, inspect and repair the connector.

Framework-free like the rest of the core; the HTTP triggers in ``triggers/ops_*.py`` are thin
adapters over it, and ``python -m bc_anaplan ops`` is a client of that HTTP API.

* ``requests``: validation of everything an operator sends (flows and their inputs, run list
  filters, lock releases), with the HTTP status and a clear message for each mistake;
* ``views``: a run as the API shows it (record, steps, counts, reconciliation, record totals);
* ``report``: the same run as one self-contained HTML page;
* ``notify``: the message posted to a Teams/Slack webhook when a run ends badly;
* ``retention``: the purge of old run records, audit rows and staged files;
* ``ping``: the "add your credentials and see if we fit" check against BC and Anaplan;
* ``cli``: the command-line client of the ops API.
"""
