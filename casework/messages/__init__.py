"""Messages and reports: the outbox's sender (email over SMTP, text messages through a provider),
the reports built on time for schools and staff, and the outbox as staff see it. What causes a
message writes its row in its own transaction (a mark: ``casework.registers.notices``; a letter
to be emailed: ``casework.cases.letters``); this package delivers them."""
