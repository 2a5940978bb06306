"""The receiver kinds: what the receivers file accepts, what the classes say, what the
package says."""

from __future__ import annotations

import re

from cryptomonitor.alerting import receivers
from cryptomonitor.alerting.receivers import alertmanager, chat, settings, smtp, webhook


def test_every_kind_the_file_accepts_has_its_class_and_is_named_in_the_docs() -> None:
    classes = (webhook.Webhook, alertmanager.Alertmanager, smtp.Email, chat.Chat)
    assert {c.kind for c in classes} == set(settings.KINDS)
    assert receivers.__doc__ is not None
    named = re.findall(r"``(\w+)``\s+\(`(\w+)`\)", receivers.__doc__)  # type (module)
    assert {kind for kind, _ in named} == set(settings.KINDS)  # "smtp" is a module, not a kind
    assert {kind: module for kind, module in named} == {
        c.kind: c.__module__.rsplit(".", 1)[1] for c in classes
    }
