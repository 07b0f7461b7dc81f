"""Writing cassettes (``SessionTape``, the recording proxy): whatever a client, a server or a
credential holds, the lines written load again, and no credential is in them."""

from __future__ import annotations

import json
import pathlib

import pytest

from mock_server.cassette import load


@pytest.mark.parametrize("secret", ['sk_"quoted"', "sk_back\\slash", "kind-of-a-key",
                                    "12345678"])
def test_an_odd_secret_is_scrubbed_without_breaking_the_cassette(
        tmp_path: pathlib.Path, secret: str) -> None:
    """Scrubbing replaced the secret anywhere in the encoded line, field names and JSON
    syntax included: a key with a quote made a cassette that no longer loads."""
    from mock_server.cassette import CassetteWriter, SessionTape

    tape = SessionTape(1, "/v1/speech-to-text/realtime", {"model_id": ["scribe_v2_realtime"]},
                       auth="api_key", secrets=[secret], keep_audio=True, start=0.0)
    tape.client(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "AAAAAA==",
                            "previous_text": f"({secret})"}), 0.1)
    tape.server(json.dumps({"message_type": "committed_transcript", "text": f"<{secret}>",
                            secret: 1}), 0.2)
    path = tmp_path / "odd.jsonl"
    tape.close("client", 1000, "", 0.3)
    CassetteWriter(path).write(tape)
    assert secret not in path.read_text(encoding="utf-8")
    assert json.dumps(secret)[1:-1] not in path.read_text(encoding="utf-8")
    (session,) = load(path).sessions
    assert session.of("client")[0]["previous_text"] == "(<redacted>)"
    (frame,) = session.server_frames()  # every string in it scrubbed, names included
    assert all(secret not in f"{k}{v}".replace("<redacted>", "") for k, v in frame.items())
    assert "<<redacted>>" in frame.values()


@pytest.mark.parametrize("secret", ["e", "a", '"', "kind", "\\", "1", "api_key"])
def test_a_short_key_leaves_the_cassette_loadable(tmp_path: pathlib.Path, secret: str) -> None:
    """A key under 8 characters (a test's "e") is no real credential: scrubbing it rewrote
    field values ("by": "cli<redacted>nt") and the cassette no longer loaded."""
    from mock_server.cassette import CassetteWriter, SessionTape

    tape = SessionTape(1, "/v1/speech-to-text/realtime", {"commit_strategy": ["vad"]},
                       auth="api_key", secrets=[secret], start=0.0)
    tape.client(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "AAAAAA=="}),
                0.1)
    tape.server(json.dumps({"message_type": "committed_transcript", "text": "seen"}), 0.2)
    tape.close("client", 1000, "", 0.3)
    path = tmp_path / "short.jsonl"
    CassetteWriter(path).write(tape)
    (session,) = load(path).sessions
    assert session.query == {"commit_strategy": ["vad"]}
    assert session.auth == "api_key"
    assert session.path == "/v1/speech-to-text/realtime"
    assert [f["text"] for f in session.server_frames()] == ["seen"]


@pytest.mark.parametrize("frame", [
    "[" * 100000,  # nested past the parser: RecursionError killed the client's relay
    json.dumps({"message_type": 5, "audio_base_64": "AAAA"}),  # unloadable message_type
    json.dumps({"message_type": ["x"], "audio_base_64": "AAAA", "commit": True}),
    "x" * (17 * 1024 * 1024),  # a line longer than load() reads
    json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "AAAA",
                "junk": "y" * (17 * 1024 * 1024)}),
    b"\x00" * (17 * 1024 * 1024),
])
def test_any_client_frame_records_a_cassette_that_loads(tmp_path: pathlib.Path,
                                                        frame: str | bytes) -> None:
    from mock_server.cassette import CassetteWriter, SessionTape

    tape = SessionTape(1, "/v1/speech-to-text/realtime", {}, auth="api_key", start=0.0)
    tape.client(frame, 0.1)
    tape.close("client", 1000, "", 0.2)
    path = tmp_path / "any.jsonl"
    tape.close("client", 1000, "", 0.3)
    CassetteWriter(path).write(tape)
    (line,) = load(path).sessions[0].of("client")
    assert line["message_type"] in (None, "input_audio_chunk")
    assert len(json.dumps(line)) < 100_000


def test_a_server_frame_nested_past_the_parser_is_kept_as_text(tmp_path: pathlib.Path) -> None:
    from mock_server.cassette import CassetteWriter, SessionTape

    tape = SessionTape(1, "/v1/speech-to-text/realtime", {}, auth="api_key", start=0.0)
    tape.server("[" * 100000, 0.1)
    path = tmp_path / "deep.jsonl"
    tape.close("client", 1000, "", 0.3)
    CassetteWriter(path).write(tape)
    (line,) = load(path).sessions[0].of("server")
    assert line["raw"] == "[" * 100000


def test_the_largest_message_the_proxy_relays_records_a_line_that_loads(
        tmp_path: pathlib.Path) -> None:
    """16 MiB of audio kept with --keep-audio, and a previous_text of escapes that JSON
    makes six times longer: the line stays under the limit load() reads."""
    import base64

    from mock_server import proxy
    from mock_server.cassette import MAX_LINE, CassetteWriter, SessionTape

    size = proxy.MAX_MESSAGE
    audio = base64.b64encode(b"\x01" * (size * 3 // 4 - 1024)).decode()
    tape = SessionTape(1, "/v1/speech-to-text/realtime", {}, auth="api_key", keep_audio=True,
                       start=0.0)
    tape.client(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": audio,
                            "previous_text": "\x01" * 1000}), 0.1)
    tape.client(json.dumps({"message_type": "input_audio_chunk", "audio_base_64": "",
                            "previous_text": "\x01" * (size // 2)}), 0.2)
    path = tmp_path / "big.jsonl"
    tape.close("client", 1000, "", 0.3)
    CassetteWriter(path).write(tape)
    assert max(len(line) for line in path.read_bytes().splitlines()) <= MAX_LINE
    assert len(load(path).sessions[0].of("client")) == 2


def test_a_tape_that_has_not_ended_is_not_written() -> None:
    from mock_server.cassette import SessionTape

    tape = SessionTape(3, "/v1/speech-to-text/realtime", {}, auth="api_key", start=0.0)
    with pytest.raises(ValueError, match="session 3 has not ended"):
        tape.text()
    tape.close("client", 1000, "", 0.1)
    assert tape.text().count("\n") == 2
