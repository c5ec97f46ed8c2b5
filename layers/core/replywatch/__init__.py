"""ReplyWatch: make sure no customer on social media waits too long for an answer."""

__version__ = "0.1.0"
