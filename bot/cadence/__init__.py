"""The monthly cadence: day-one manager threads and rep invitations, the day-two director digest
and the optional daily progress post, each message sent exactly once."""
