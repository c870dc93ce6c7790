"""Letters and messages as RQ jobs over Redis (``CASEWORK_REDIS_URL``), in-process without it.

The database is the truth: a job only names a LetterJob or an OutboxMessage, and running it
twice stores one letter and sends one message. Redis holds nothing the sweeper
(``casework send-due``) cannot rebuild from the database.
"""
