"""Security and privacy: the access policy, the hash-chained audit log, lockbox, process notes, encryption.

Submodules are imported where they are needed (``encryption`` needs the optional ``cryptography``).
"""
