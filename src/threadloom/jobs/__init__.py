"""The fetch job: input -> fetch -> process -> store; resume; summary; trace; report."""
