"""The order in which a part's repeats, endings and jumps play: spans of its written timeline.

A port of partitura's ``add_segments`` and ``get_paths`` (Apache License 2.0) as
``unfold_part_maximal(part, ignore_leaps=False)`` uses them: every repeat taken,
every ending in its turn, D.C. / D.S. / coda / fine followed, and no repeats after
such a jump. Ported rather than reinvented so a score plays, and its notes are
numbered, as when partitura unfolded it (ASAP's note maps count on that).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from autodynamics_cli.musicxml.timeline import Part

MAX_SEGMENTS = 20_000  # a path longer than this loops: the score's repeats cannot be unfolded


class UnfoldError(ValueError):
    """Repeats that cannot be played through."""


@dataclass
class _Segment:
    id: str
    start: int
    end: int
    to: list[str] = field(default_factory=list)
    await_to: list[str] = field(default_factory=list)
    type: str = "default"
    volta_numbers: list[str] = field(default_factory=list)


def _volta_numbers(number: Any) -> list[str]:
    try:
        return [str(int(n)) for n in str(number).split(",")]
    except ValueError:
        raise UnfoldError(f"an ending numbered {number!r}") from None


def _segments(part: Part) -> dict[str, _Segment]:
    boundaries: dict[int, dict[str, Any]] = defaultdict(dict)
    destinations: dict[str, list[int]] = defaultdict(list)
    for r in part.repeats:
        if r[0] is not None and r[1] is not None:
            boundaries[r[0]]["repeat_start"] = r
            boundaries[r[1]]["repeat_end"] = r
    for v in part.endings:
        if v[0] is not None and v[1] is not None:
            boundaries[v[0]]["volta_start"] = v
            boundaries[v[1]]["volta_end"] = v
    for kind, t in part.navigation:
        boundaries[t][kind] = True
        if kind in ("coda", "segno"):
            destinations[kind].append(t)
    first, last = part.first, part.last
    boundaries[last]["end"] = None
    boundaries[first]["start"] = None
    times = sorted(boundaries)
    if len(times) - 1 > 52:
        raise UnfoldError("more than 52 repeat and jump boundaries")
    letters = [chr(65 + i) for i in range(26)] + [chr(97 + i) for i in range(26)]
    info: dict[int, _Segment] = {
        s: _Segment(letters[i], s, e) for i, (s, e) in enumerate(zip(times[:-1], times[1:], strict=True))
    }
    ids = {t: seg.id for t, seg in info.items()} | {times[-1]: "END"}
    volta_repeat_start = 0
    volta_end = 0
    volta_total = 0
    for ss in times[:-1]:
        seg = info[ss]
        se = seg.end
        b = boundaries[se]
        for kind in list(b.keys()):
            if kind == "repeat_start":
                seg.to.append(ids[se])
            if kind == "repeat_end":
                if "volta_end" not in b:
                    seg.to.append(ids[se])
                    seg.to.append(ids[b[kind][0]])
            if kind == "volta_start" and "volta_end" not in b:
                volta_total = 0
                volta_end = se
                for _ in range(10):  # at most ten endings
                    if "volta_start" in boundaries[volta_end]:
                        numbers = _volta_numbers(boundaries[volta_end]["volta_start"][2])
                        volta_total += len(numbers)
                        seg.to.extend(f"{n}_Volta_{ids[volta_end]}" for n in numbers)
                        if volta_end in info:
                            info[volta_end].volta_numbers += numbers
                        volta_end = boundaries[volta_end]["volta_start"][1]
            if kind == "volta_end":
                for vn in seg.volta_numbers:
                    if vn != str(volta_total):
                        if "repeat_end" in b:
                            volta_repeat_start = max(b["repeat_end"][0], volta_repeat_start)
                        seg.to.append(f"Z_Volta_{ids[volta_repeat_start]}")
                if str(volta_total) in seg.volta_numbers:
                    seg.to.append(ids[volta_end])
            if kind in ("coda", "segno"):  # passed: go on; a jump's landing place
                seg.to.append(ids[se])
                if se in info:
                    info[se].type = "leap_end"
            if kind == "tocoda":
                seg.to.append(ids[se])
                if not destinations["coda"]:
                    raise UnfoldError("a jump to a coda that the score does not have")
                seg.to.append("Navigation2_" + ids[destinations["coda"][0]])
                seg.type = "leap_start"
            if kind == "dalsegno":
                seg.to.append(ids[se])
                if not destinations["segno"]:
                    raise UnfoldError("a dal segno without a segno")
                seg.to.append("Navigation1_" + ids[destinations["segno"][0]])
                seg.to.append("Navigation2_" + ids[se])
                seg.type = "leap_start"
            if kind == "dacapo":
                seg.to.append(ids[se])
                seg.to.append("Navigation1_" + ids[first])
                seg.to.append("Navigation2_" + ids[se])
                seg.type = "leap_start"
            if kind == "fine":
                seg.to.append(ids[se])
                seg.to.append("Navigation2_" + ids[last])
            if kind == "end":
                seg.to.append(ids[se])
            if ss == 0:
                seg.type = "leap_end"
    for seg in info.values():
        _order_destinations(seg)
    return {seg.id: seg for seg in info.values()}


def _order_destinations(seg: _Segment) -> None:
    """Repeats' destinations in the order partitura takes them; jumps after a D.C. wait in ``await_to``."""
    plain = [d for d in seg.to if "Volta_" not in d and "Navigation" not in d]
    volta = [d for d in seg.to if "Volta_" in d]
    nav1 = [d[12:] for d in seg.to if "Navigation1_" in d]
    nav2 = [d[12:] for d in seg.to if "Navigation2_" in d]
    plain = list(set(plain))
    if "END" in volta + plain + nav1:
        while "END" in plain:
            plain.remove("END")
        nav1.append("END")
    plain.sort()
    volta.sort()
    volta = [d[8:] for d in volta]
    plain = [d for d in plain if d not in volta]
    seg.to = volta + plain + nav1
    seg.await_to = nav2


def played_spans(part: Part) -> list[tuple[int, int]]:
    """The written spans ``(start, end)`` in the order they are played."""
    try:
        return _path(_segments(part))
    except IndexError:  # partitura fails here too: an ending or repeat it cannot place
        raise UnfoldError("endings or repeats out of order") from None


def _path(segments: dict[str, _Segment]) -> list[tuple[int, int]]:
    if not segments:
        return []
    path = ["A"]
    used: dict[str, list[str]] = defaultdict(list)
    jumped = no_repeats = False
    while True:
        here = segments[path[-1]]
        dests = list(here.to)
        if not dests:
            raise UnfoldError(f"the repeats lead nowhere after division {here.end}")
        before = used[here.id]
        if no_repeats:
            dest = dests[-1]
        elif not before:
            dest = dests[0]
        else:
            last = before[-1]
            index = [i for i, n in enumerate(dests * 100) if n == last][before.count(last) - 1] % len(dests)
            dest = dests[index + 1] if index < len(dests) - 1 else dests[0]
        if dest == "END":
            break
        if dest not in segments:
            raise UnfoldError("a repeat to a place the score does not have")
        used[here.id].append(dest)
        path.append(dest)
        if segments[dest].type == "leap_end" and here.type == "leap_start":
            if not jumped:
                jumped = True
                for seg in segments.values():
                    if seg.await_to:
                        seg.to = [i for i in seg.to if i <= seg.id] + seg.await_to
                    used[seg.id] = []
                used[here.id].append(dest)
            no_repeats = True
        if len(path) > MAX_SEGMENTS:
            raise UnfoldError("the repeats never end")
    return [(segments[i].start, segments[i].end) for i in path]
