"""The notification service: help requests routed to whoever is on duty, and delivery of
every notice (inbox, SMS, WeChat subscription messages)."""
