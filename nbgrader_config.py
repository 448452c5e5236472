"""nbgrader settings for the course: instructors edit solutions/, students get assignments/."""

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "dl4cv"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Student notebooks start with a clear failure in every solution cell.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A runaway cell in a submission must not stall the grader for everyone else.
c.ExecutePreprocessor.timeout = 300
