pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.world",
    "tests.fixtures.smtp",
    "tests.fixtures.twilio",
]
