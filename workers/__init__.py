"""Task modules for `queuekit worker`, run from the repository's root (see README.md)."""
