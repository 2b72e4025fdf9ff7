"""The suggested cull of an order: what each photo's signals (measured at ingest, in the record) say against
the order's line's ``[cull]`` thresholds (config/line.py, CullSpec), with reasons, and the burst groups.

Groups: frames of one camera body taken within ``burst_seconds`` of each other (its clock set right) whose
perceptual hashes are within ``burst_hash_distance`` are one burst; frames within ``duplicate_hash_distance`` are
near-duplicates whenever they were taken, and join a group only when alike to every frame of it (:func:`_groups`). Each group's best frame is named: never one the
photographer rejected, then the fewest faults (blurred, smeared, exposure, eyes closed), then the
sharpest where the subject is. The others are suggested as ``duplicate`` (near-identical to the
best) or ``burst_not_best``.

Eyes: ``eyes_closed`` only on a clear reading (``shut``: no eye, lids as light as the cheeks), or on eyes not
found on a judged face when another frame of the same group shows every face's eyes open. Anything else (one
eye found, eyes not found with nothing to compare) suggests nothing and the note says so.

Nothing here changes a photo: the suggestion pre-fills the review of the originals (qc/originals.py) and is
shown by `postline cull`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from sqlmodel import Session

from config.line import CullSpec
from record import clocks, ratings, work
from record import cull as cull_record
from record.models import CullSignals, CullVerdict, Photo
from tasks.pixels.cull import hash_distance

NOT_IN_LINE = clocks.NOT_SHOT     # refused files and copies: never in the line


class Reason(StrEnum):
    BLURRED = "blurred"
    EYES_CLOSED = "eyes_closed"
    OVEREXPOSED = "overexposed"
    UNDEREXPOSED = "underexposed"
    DUPLICATE = "duplicate"
    BURST_NOT_BEST = "burst_not_best"


@dataclass(frozen=True)
class Suggestion:
    photo_id: int
    photo: str                                # the original's name on the card
    verdict: CullVerdict
    reasons: tuple[Reason, ...]
    group: int | None                         # burst / near-duplicate group, numbered in capture order
    best: bool                                # the group's best frame
    notes: tuple[str, ...]                    # why, in words (measures against thresholds, doubts)
    signals: CullSignals | None


ALIKE_NEIGHBOURS = 32     # a frame's nearest near-duplicates linked (each group is checked whole when it joins)


def _groups(frames: list[tuple[Photo, CullSignals]], spec: CullSpec, times: list,
            bodies: list[str | None] | None = None) -> list[list[int]]:
    """Indices of ``frames`` joined into groups of two or more; ``times``: when each was taken (record.clocks.taken:
    each body's clock set right); ``bodies``: each one's camera body (record.clocks.camera_of; None: not known).

    A burst link joins two frames of one body taken within ``burst_seconds`` of each other whose hashes are within
    ``burst_hash_distance``: a burst drifts frame to frame, and its links chain. Frames of one hash are one
    group. A near-duplicate link (hashes within ``duplicate_hash_distance``, whenever taken, by any body; each
    picture's ALIKE_NEIGHBOURS nearest) joins two groups only when every frame of the one is within
    ``burst_hash_distance`` of every frame of the other, closest pairs first: alike frames do not chain a whole
    shoot (and its bursts) into one group. 0.2 s here for 3,000 frames of five products, each frame a few bits
    from its product's (the links first compared pair by pair took minutes)."""
    bodies = bodies if bodies is not None else [None] * len(frames)
    parent = list(range(len(frames)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(frames))}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[b] = a
            members[a] += members.pop(b)

    n = len(frames)
    hashes = np.array([int(s.phash, 16) for _, s in frames], dtype=np.uint64)
    seconds = np.array([t.timestamp() if t is not None else np.nan for t in times], dtype=np.float64)
    body = np.unique(np.array([b or "" for b in bodies], dtype=object), return_inverse=True)[1]
    for i in range(n):                        # bursts: one body, close in time and in hash
        later = slice(i + 1, n)
        burst = ((np.bitwise_count(hashes[later] ^ hashes[i]) <= spec.burst_hash_distance)
                 & (body[later] == body[i]) & (np.abs(seconds[later] - seconds[i]) <= spec.burst_seconds))
        for j in np.flatnonzero(burst) + i + 1:                             # NaN (no time): never a burst
            join(i, int(j))
    distinct, first, which = np.unique(hashes, return_index=True, return_inverse=True)
    for i, u in enumerate(which):             # the same hash: the same picture, whatever else
        join(int(first[u]), i)
    alike = set()                             # (distance, i, j), i < j: near-duplicate links between pictures
    for u in range(len(distinct)):
        distance = np.bitwise_count(distinct ^ distinct[u]).astype(np.int64)
        near = np.flatnonzero((distance <= spec.duplicate_hash_distance) & (distance > 0))
        if len(near) > ALIKE_NEIGHBOURS:     # a dense run of alike pictures (a product shoot): its nearest link it
            near = near[np.argpartition(distance[near], ALIKE_NEIGHBOURS)[:ALIKE_NEIGHBOURS]]
        alike.update((int(distance[v]), int(min(first[u], first[v])), int(max(first[u], first[v]))) for v in near)
    refused = set()      # two groups, as they were (their root and size), found not alike: not compared again
    for _, i, j in sorted(alike):
        a, b = root(i), root(j)
        if a == b or (key := (min(a, b), len(members[min(a, b)]), max(a, b), len(members[max(a, b)]))) in refused:
            continue
        first, second = np.unique(hashes[members[a]]), np.unique(hashes[members[b]])   # many frames, few hashes
        if int(np.bitwise_count(first[:, None] ^ second[None, :]).max()) <= spec.burst_hash_distance:
            join(a, b)
        else:
            refused.add(key)
    return [sorted(m) for m in members.values() if len(m) > 1]


def _eye_states(signals: CullSignals) -> list[str]:
    return [s for s in (signals.eyes or "").split(",") if s]


def _measures(signals: CullSignals, spec: CullSpec) -> tuple[list[Reason], list[str]]:
    """Reasons from one photo's own measures (not its group's), with the notes that explain them."""
    reasons, notes = [], []
    if signals.blur >= spec.max_blur:
        reasons.append(Reason.BLURRED)
        notes.append(f"blur {signals.blur:.2f} on the {signals.subject} (from {spec.max_blur:.2f})")
    elif signals.motion >= spec.max_motion:
        reasons.append(Reason.BLURRED)
        notes.append(f"smeared along {signals.motion_angle} deg: motion {signals.motion:.2f} (from {spec.max_motion:.2f})")
    if signals.highlights >= spec.max_highlights:
        reasons.append(Reason.OVEREXPOSED)
        notes.append(f"{signals.highlights:.0%} clipped highlights (from {spec.max_highlights:.0%})")
    if signals.shadows >= spec.max_shadows or signals.median_luma < spec.min_median_luma:
        reasons.append(Reason.UNDEREXPOSED)
        notes.append(f"median luma {signals.median_luma:.2f}, {signals.shadows:.0%} blocked shadows")
    return reasons, notes


def _eyes(signals: CullSignals, others: list[CullSignals], spec: CullSpec) -> tuple[bool, str | None]:
    """(eyes closed?, a note) for one photo, with the other frames of its group."""
    states = _eye_states(signals)
    if not spec.eyes_closed or not states:
        return False, None
    if "shut" in states:
        return True, "eyes closed (no eye found, lids as light as the cheeks)"
    if "not_found" not in states:
        return False, None
    seen_open = [o for o in others if _eye_states(o) and all(s == "open" for s in _eye_states(o))]
    if seen_open:
        return True, "eyes not found on a face whose eyes another frame of its group shows open"
    return False, "eyes not found on a face, nothing to compare with: no verdict"


def suggest(session: Session, order_id: int) -> list[Suggestion]:
    """The suggestion for every photo of the order that entered the line (ingested, whatever happened since),
    in card order."""
    spec = work.order_line(session, order_id).cull
    photos = [p for p in work.photos(session, order_id) if p.status not in NOT_IN_LINE]
    recorded = cull_record.signals_of(session, order_id)
    frames = [(p, recorded[p.id]) for p in photos if p.id in recorded and recorded[p.id].phash]
    shifts = clocks.shifts(session, order_id)
    in_order = clocks.shooting_order(shifts)
    frames.sort(key=lambda f: in_order(f[0]))
    groups = sorted(_groups(frames, spec, [clocks.taken(p, shifts) for p, _ in frames],
                            [clocks.camera_of(p) for p, _ in frames]), key=min)
    group_of = {frames[i][0].id: (number, members) for number, members in enumerate(groups, 1) for i in members}

    closed: dict[int, tuple[bool, str | None]] = {}
    for photo, signals in frames:
        _, members = group_of.get(photo.id, (None, []))
        others = [frames[i][1] for i in members if frames[i][0].id != photo.id]
        closed[photo.id] = _eyes(signals, others, spec)
    rated = ratings.of_order(session, order_id) if spec.ratings else {}

    def rank(i: int) -> tuple:
        """A group's best frame: never one the photographer rejected; then the fewest faults (blurred, smeared,
        badly exposed, eyes closed: a blurred frame whose eyes could not be read is not better than sharp ones
        read as shut); then the sharpest. (A frame they picked is kept whichever is best: qc/originals.py.)"""
        photo, signals = frames[i]
        faults = len(_measures(signals, spec)[0]) + closed[photo.id][0]
        return ratings.rejected(rated.get(photo.id), spec), faults, signals.blur, i

    best_of: dict[int, Photo] = {}
    for number, members in enumerate(groups, 1):
        best_of[number] = frames[min(members, key=rank)][0]

    out = []
    by_id = {p.id: s for p, s in frames}
    for photo in sorted(photos, key=lambda p: p.source_name):
        signals = recorded.get(photo.id)
        if photo.id not in by_id:
            why = signals.note if signals is not None and signals.note else "no signals recorded (ingested before the cull)"
            out.append(Suggestion(photo.id, photo.source_name, CullVerdict.KEEP, (), None, False, (why,), signals))
            continue
        reasons, notes = _measures(signals, spec)
        eyes_closed, eye_note = closed[photo.id]
        if eyes_closed:
            reasons.insert(1 if reasons[:1] == [Reason.BLURRED] else 0, Reason.EYES_CLOSED)
        if eye_note:
            notes.append(eye_note)
        number = group_of.get(photo.id, (None,))[0]
        best = number is not None and best_of[number].id == photo.id
        if number is not None and not best:
            kept = best_of[number]
            near = hash_distance(signals.phash, recorded[kept.id].phash) <= spec.duplicate_hash_distance
            reasons.append(Reason.DUPLICATE if near else Reason.BURST_NOT_BEST)
            notes.append(f"group {number}'s best frame is {kept.source_name}")
        elif best:
            notes.append(f"best frame of group {number}")
        verdict = CullVerdict.REJECT if reasons else CullVerdict.KEEP
        out.append(Suggestion(photo.id, photo.source_name, verdict, tuple(reasons), number, best, tuple(notes), signals))
    return out

