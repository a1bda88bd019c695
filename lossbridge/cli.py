"""Command line: placeholder until the report lands."""


def main(argv=None):
    from .report import main as report_main

    return report_main(argv)
