"""The demo's one form: the text sent along with "demo:clicked"."""

from __future__ import annotations

from django import forms


class ClickForm(forms.Form):
    """Take the text to twitter; empty is allowed."""

    text = forms.CharField(max_length=200, required=False)
