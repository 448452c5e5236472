"""Instructor tooling: notebook upkeep and grading. Not part of the student bundle."""
