"""A small shop library: what the honest suites test (the correct version)."""

import asyncio
import datetime
import json
import logging
import os
import subprocess
import sys
import time
import warnings

log = logging.getLogger("shop")


def total(prices):
    return round(sum(prices), 2)


def mean(values):
    return sum(values) / len(values)


def env_name():
    return os.environ.get("SHOP_ENV", "dev")


def stamp():
    return int(time.time())


def today():
    return datetime.date.today().isoformat()


def here():
    return os.getcwd()


def read_config(path):
    with open(path) as handle:
        return json.load(handle)


def sell(item):
    log.info("sold %s", item)
    return item


def old_api():
    warnings.warn("old_api is deprecated", DeprecationWarning, stacklevel=2)
    return 1


def run_echo(text):
    done = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1])", text], capture_output=True, text=True
    )
    return done.stdout.strip()


async def fetch(value):
    await asyncio.sleep(0)
    return value * 2


def parse_price(text):
    """Parse a price.

    >>> parse_price("3.50")
    3.5
    >>> parse_price("2")
    2.0
    """
    return float(text)


def checkout(items, pay):
    if not items:
        raise ValueError("empty basket")
    return pay(total(items))
