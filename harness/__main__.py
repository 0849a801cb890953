import sys

try:
    from harness.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the harness is still loading: nothing started
    sys.exit(130)

main()
