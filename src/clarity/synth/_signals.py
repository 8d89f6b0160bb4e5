"""Wearable signals from the latent state: minute actigraphy, RR intervals, ECG."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clarity.synth._latent import Trajectory

__all__ = ["Actigraphy", "RRRecording", "simulate_actigraphy", "simulate_ecg", "simulate_rr"]

MINUTES_PER_DAY = 1440


@dataclass
class Actigraphy:
    """A minute-level recording in local time.

    ``counts`` holds one value per minute from local midnight of the first day;
    ``recorded`` is False where the device stored nothing (charging, data loss);
    ``worn`` is False where it recorded zeros off the wrist. Both are ground truth.
    """

    counts: np.ndarray
    recorded: np.ndarray
    worn: np.ndarray
    sleep: np.ndarray


def simulate_actigraphy(trajectory: Trajectory, rng: np.random.Generator) -> Actigraphy:
    """Simulate wrist activity counts per minute for every day of a trajectory.

    Awake activity follows a cosinor rhythm peaking mid-afternoon, scaled by
    the day's activity level; depression lowers it and fragments sleep (more
    movement at night) and irregular sleep moves bed and wake times. Off-wrist
    periods record zeros for 1.5-4 hours; charging gaps record nothing.

    Parameters
    ----------
    trajectory
        The patient's daily latent state.
    rng
        Random generator.

    Returns
    -------
    Actigraphy
        Counts and the true recording, wear and sleep masks.
    """
    days = trajectory.days
    n = days * MINUTES_PER_DAY
    counts = np.zeros(n)
    sleep = np.zeros(n, dtype=bool)
    minute_of_day = np.arange(MINUTES_PER_DAY)
    hour = minute_of_day / 60.0
    rhythm = 0.55 + 0.45 * np.cos(2 * math.pi * (hour - 15.0) / 24.0)
    for day in range(days):
        dep = trajectory.depression[day]
        regularity = trajectory.sleep_regularity[day]
        jitter = 20 + 100 * (1 - regularity)
        onset = int(np.clip(rng.normal(23 * 60 + 15, jitter), 21 * 60, 27 * 60))
        duration = int(np.clip(rng.normal(7.5 * 60 + 60 * dep, 40), 4 * 60, 11 * 60))
        start = day * MINUTES_PER_DAY
        asleep = np.zeros(MINUTES_PER_DAY + 12 * 60, dtype=bool)
        asleep[onset : onset + duration] = True
        # The previous night's tail runs past midnight into this day.
        day_sleep = asleep[:MINUTES_PER_DAY]
        spill = asleep[MINUTES_PER_DAY:]
        sleep[start : start + MINUTES_PER_DAY] |= day_sleep
        end = min(n, start + MINUTES_PER_DAY + len(spill))
        sleep[start + MINUTES_PER_DAY : end] |= spill[: end - start - MINUTES_PER_DAY]
        amplitude = 320.0 * trajectory.activity[day]
        awake = rng.gamma(1.3, amplitude * rhythm / 1.3)
        sedentary = rng.random(MINUTES_PER_DAY) < 0.12 + 0.15 * dep
        awake[sedentary] = rng.gamma(1.0, 4.0, int(sedentary.sum()))
        counts[start : start + MINUTES_PER_DAY] = awake
    # Nights: mostly still, with movement bursts that depression makes more frequent.
    night = np.flatnonzero(sleep)
    # Wrist devices see small movements in a fifth or more of sleeping minutes.
    moves = rng.random(night.size) < 0.18 + 0.25 * trajectory.depression[night // MINUTES_PER_DAY]
    counts[night] = np.where(moves, rng.gamma(1.5, 20.0, night.size), 0.0)
    worn = np.ones(n, dtype=bool)
    recorded = np.ones(n, dtype=bool)
    for day in range(days):
        start = day * MINUTES_PER_DAY
        if rng.random() < 0.15:  # taken off for a while during the day
            begin = start + int(rng.integers(8 * 60, 19 * 60))
            worn[begin : begin + int(rng.integers(90, 240))] = False
        if rng.random() < 0.05:  # charging: nothing recorded
            begin = start + int(rng.integers(9 * 60, 20 * 60))
            recorded[begin : begin + int(rng.integers(60, 180))] = False
    if days > 14 and rng.random() < 0.3:  # forgotten at home for a day or two
        begin = int(rng.integers(0, days - 3)) * MINUTES_PER_DAY + 10 * 60
        recorded[begin : begin + int(rng.integers(1, 3)) * MINUTES_PER_DAY] = False
    counts[~worn] = 0.0
    counts = np.round(counts)
    return Actigraphy(counts=counts, recorded=recorded, worn=worn & recorded, sleep=sleep)


@dataclass
class RRRecording:
    """A short resting RR-interval recording with its true HRV."""

    day: int
    start_minute: int
    rr_ms: np.ndarray
    target_rmssd_ms: float
    mean_hr_bpm: float


def simulate_rr(trajectory: Trajectory, rng: np.random.Generator) -> list[RRRecording]:
    """Simulate a weekly five-minute morning RR recording whose HRV tracks stress.

    Stress raises heart rate and lowers RMSSD; respiratory sinus arrhythmia
    adds a 0.25 Hz oscillation.

    Parameters
    ----------
    trajectory
        The patient's daily latent state.
    rng
        Random generator.

    Returns
    -------
    list of RRRecording
        One per week, on the first day of each week.
    """
    recordings = []
    for day in range(0, trajectory.days, 7):
        stress = float(trajectory.stress[day])
        hr = float(np.clip(rng.normal(62 + 22 * stress, 3), 45, 120))
        rmssd = float(np.clip(55 * (1 - 0.6 * stress) * math.exp(rng.normal(0, 0.1)), 8, 120))
        mean_rr = 60_000 / hr
        beats = int(300_000 / mean_rr)
        t = np.cumsum(np.full(beats, mean_rr)) / 1000.0
        rsa = 0.35 * rmssd * np.sin(2 * math.pi * 0.25 * t + rng.uniform(0, 2 * math.pi))
        noise = rng.normal(0, rmssd / math.sqrt(2) * 0.8, beats)
        slow = np.cumsum(rng.normal(0, 2.0, beats))
        rr = mean_rr + rsa + noise + slow - slow.mean()
        recordings.append(
            RRRecording(
                day=day,
                start_minute=int(rng.integers(6 * 60 + 30, 8 * 60)),
                rr_ms=np.round(np.clip(rr, 300, 2000), 1),
                target_rmssd_ms=rmssd,
                mean_hr_bpm=hr,
            )
        )
    return recordings


def simulate_ecg(heart_rate: float, seconds: int, sampling_rate: int, seed: int) -> np.ndarray:
    """Simulate a single-lead ECG with neurokit2's ECGSYN model.

    Parameters
    ----------
    heart_rate
        Mean heart rate in beats per minute.
    seconds
        Duration.
    sampling_rate
        Samples per second (130 Hz, as a Polar H10 records).
    seed
        Seed of the simulator.

    Returns
    -------
    numpy.ndarray
        Voltage in microvolts.
    """
    import neurokit2 as nk

    signal = nk.ecg_simulate(
        duration=seconds,
        sampling_rate=sampling_rate,
        heart_rate=heart_rate,
        heart_rate_std=2,
        method="ecgsyn",
        random_state=seed,
    )
    return np.round(np.asarray(signal) * 1000.0)
