"""Shared pieces of the benchmarks: data generation, a fresh instance, percentiles, peak memory."""

from __future__ import annotations

import csv
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable

NAMES = [
    ("เต็นท์ผ้าใบ ขนาด 4x8 เมตร", "เต็นท์"),
    ("เก้าอี้พลาสติก สีน้ำเงิน", "เก้าอี้"),
    ("โต๊ะพับอเนกประสงค์ หน้าขาว", "โต๊ะ"),
    ("เครื่องฉายภาพ (โปรเจคเตอร์)", "เครื่องฉายภาพ"),
    ("เครื่องคอมพิวเตอร์โน้ตบุ๊ก", "คอมพิวเตอร์"),
    ("กล้องถ่ายภาพดิจิทัล", "กล้อง"),
    ("ชุดเครื่องเสียงพร้อมลำโพงเคลื่อนที่", "เครื่องเสียง"),
    ("พัดลมอุตสาหกรรม ขนาด 24 นิ้ว", "เครื่องใช้สำนักงาน"),
    ("ตู้เหล็กเก็บเอกสาร 4 ลิ้นชัก", "เครื่องใช้สำนักงาน"),
    ("เครื่องพิมพ์เลเซอร์", "คอมพิวเตอร์"),
]
PLACES = ["ห้องเก็บของ ชั้น 1", "โรงเก็บพัสดุ", "ห้องประชุมสภา", "ห้องพัสดุ", "กองช่าง ชั้น 2", "ศูนย์พัฒนาเด็กเล็ก"]
DEPTS = ["สำนักปลัด", "กองคลัง", "กองช่าง", "กองการศึกษา", "กองสาธารณสุข"]


def write_assets_csv(path: Path, n: int, seed: int = 7) -> Path:
    """n believable assets with Thai headers."""
    rnd = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "หมายเลขครุภัณฑ์",
                "ชื่อครุภัณฑ์",
                "ประเภท",
                "ยี่ห้อ",
                "รุ่น",
                "หมายเลขเครื่อง",
                "วันที่ได้มา",
                "ราคา",
                "สถานที่ตั้ง",
                "หน่วยงาน",
                "ให้ยืมได้",
            ]
        )
        for i in range(n):
            name, cat = NAMES[i % len(NAMES)]
            year = 2550 + rnd.randrange(0, 19)
            brand = rnd.choice(["Epson", "Canon", "Lenovo", ""])
            w.writerow(
                [
                    f"{400 + i % 90}-{year % 100:02d}-{i:06d}",
                    name,
                    cat,
                    brand,
                    f"M{rnd.randrange(100, 999)}",
                    f"SN{rnd.randrange(10**8):08d}",
                    f"{rnd.randrange(1, 28):02d}/{rnd.randrange(1, 13):02d}/{year}",
                    f"{rnd.randrange(300, 90000)}.00",
                    rnd.choice(PLACES),
                    rnd.choice(DEPTS),
                    "ได้" if rnd.random() < 0.8 else "ไม่ได้",
                ]
            )
    return path


def flask(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(PY).parent / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=input,
        text=True,
        capture_output=True,
        check=True,
    )


def fresh_instance(name: str) -> dict:
    """A new SQLite database and file store; returns the environment that points at them."""
    base = OUT / name
    if base.exists():
        subprocess.run(["rm", "-rf", str(base)], check=True)
    base.mkdir(parents=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "EVIDENCE_DIR": str(base / "files"),
        "SECRET_KEY": "bench",
        "BASE_URL": "http://127.0.0.1:5000",
    }
    flask(env, "db", "upgrade")
    flask(
        env,
        "users",
        "create",
        "officer",
        "--name",
        "นางสมศรี รักพัสดุ",
        "--role",
        "supply_officer",
        "--password-stdin",
        input="bench-password\n",
    )
    return env


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """Run a command; return (seconds, peak RSS of the child in MB, output)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [PY, str(ROOT / "bench" / "peak.py"), *cmd], cwd=ROOT, env=env, text=True, capture_output=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout + proc.stderr)
    peak = next(int(line.split("=")[1]) / 1024 for line in proc.stderr.splitlines() if line.startswith("MAXRSS_KB="))
    return seconds, peak, proc.stdout


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary(values_ms: list[float]) -> str:
    return f"p50 {statistics.median(values_ms):.1f} ms, p95 {pct(values_ms, 95):.1f} ms (n={len(values_ms)})"
