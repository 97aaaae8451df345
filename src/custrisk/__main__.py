"""``python -m custrisk``."""

from custrisk.entry import main

if __name__ == "__main__":
    main()
