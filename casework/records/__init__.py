"""Records of people and timetables: programmes, learners and their contacts, enrolments and
sessions. One service function per action: each checks the actor's role and scope, validates
what only the database can tell (what exists, what is taken), writes and commits once. Anything
outside the actor's scope is NotFound, as for cases (casework.scope)."""
