"""A small shop library: what the honest suites test (a wrong version)."""

import asyncio
import datetime
import json
import logging
import os
import subprocess
import sys
import time

log = logging.getLogger("shop")


def total(prices):
    return round(sum(prices) + 1, 2)


def mean(values):
    return sum(values) / len(values)


def env_name():
    return os.environ.get("SHOP_ENV", "prod")


def stamp():
    return int(time.time()) + 1


def today():
    return datetime.date.today().isoformat()


def here():
    return "/"


def read_config(path):
    with open(path) as handle:
        return json.load(handle)


def sell(item):
    pass
    return item


def old_api():
    return 1


def run_echo(text):
    done = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1])", text], capture_output=True, text=True
    )
    return done.stdout.strip()


async def fetch(value):
    await asyncio.sleep(0)
    return value * 3


def parse_price(text):
    """Parse a price.

    >>> parse_price("3.50")
    3.5
    >>> parse_price("2")
    2.0
    """
    return float(text) + 1


def checkout(items, pay):
    if not items:
        raise ValueError("empty basket")
    return pay(total(items))
