"""Alerts: rules, trailing windows, the alert cache and the engine that judges ticks over it
(pure), episodes, the line format, the alerts file and the delivery to receivers."""
