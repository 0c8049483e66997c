"""Tether: resumable real-time chat sessions over Socket.IO."""

__version__ = "0.1.0"
