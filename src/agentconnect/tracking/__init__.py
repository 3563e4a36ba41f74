"""Email tracking: open pixel, click redirect and unsubscribe, behind signed tokens."""
