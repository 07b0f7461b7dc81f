"""Faithful offline fake of the ElevenLabs Scribe v2 Realtime server (see README)."""
