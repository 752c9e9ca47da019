"""Tasks whose image is missing say so, and how to get it, before any sandbox tries to start one."""

from __future__ import annotations

from collections.abc import Callable

from opendgm.evaluators.task import Task
from opendgm.sandbox import docker_available, docker_client


def with_tag(image: str) -> str:
    """`name` -> `name:latest`, the form the engine lists images by."""
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"


def absent_images(images: set[str]) -> set[str]:
    """The images the Docker engine does not have (none when no engine answers: the local backend needs none)."""
    if docker_available():
        return set()
    present = {tag for image in docker_client().images.list() for tag in image.tags}
    return {image for image in images if with_tag(image) not in present}


def mark_absent_images(tasks: list[Task], how_to_get: Callable[[str], str]) -> list[Task]:
    """The tasks, with those whose image is absent marked invalid with `how_to_get(image)` as the reason."""
    absent = absent_images({task.image for task in tasks if not task.invalid})
    return [
        task.model_copy(update={"invalid": f"image {task.image} is not present: {how_to_get(task.image)}"})
        if task.image in absent and not task.invalid
        else task
        for task in tasks
    ]
