"""The portal's name for mospay.function_editor (the CLI uses the same module, without the portal)."""

from ..function_editor import (MAX_SOURCE, SAMPLE_INPUT, SAMPLE_OUTPUT, catalogue, check_known,  # noqa: F401
                               check_source, definition, describe, dry_run, install, is_response, restore,
                               sample_arguments, save, version, versions)
