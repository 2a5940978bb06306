"""Alerts: rules, trailing windows, the engine that judges ticks (pure), episodes, the line
format, the alerts file and the delivery to receivers."""
