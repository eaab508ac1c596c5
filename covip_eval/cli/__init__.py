"""The command lines: `coviP-eval` (`evaluate`) and `coviP-build` (`build`)."""
