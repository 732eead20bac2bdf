"""Supervised fine-tuning: chat-template collation with a per-token loss mask, and its Lightning module."""
