"""The guarded path: every command and every read of a :class:`~alliancekit.Practice` runs through here.

* :mod:`.guard`: the one place that decides access (actor, policy, lockbox) and the only producer of audit
  entries and checkpoints;
* :mod:`.command_table`: every command declared once (policy action, inputs, what it builds and returns);
* :mod:`.runner`: load, decide, evaluate the alert rules, commit once, retry on a conflict;
* :mod:`.views`: the queries, lockbox applied for everyone but the treating clinician.

Internal: hosts use the facade.
"""
