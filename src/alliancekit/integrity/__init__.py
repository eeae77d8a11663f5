"""Tamper evidence: the hashes and seals (:mod:`.chain`) and the verification of a record (:mod:`.verify`)."""
