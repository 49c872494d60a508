"""Events for the systems sales and marketing already use: the outbox and its deliverers."""
