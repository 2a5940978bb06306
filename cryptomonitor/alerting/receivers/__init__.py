"""Receivers: where alert events go besides the alerts file, each fed from the outbox.

One module per kind, each a class with the `base.Receiver` protocol, its ``type`` in the
receivers file: ``webhook`` (`webhook`), ``alertmanager`` (`alertmanager`), ``email``
(`smtp`), ``chat`` (`chat`). `settings.load` builds them from the ``[[receiver]]`` tables of
CRYPTOMONITOR_RECEIVERS_FILE; `cryptomonitor.alerting.delivery` delivers to each, at least once.
"""
