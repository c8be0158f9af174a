"""``python -m confalign.cli`` (used by ``accelerate launch -m confalign.cli ...``)."""

from confalign.cli import main

main()
