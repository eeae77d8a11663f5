"""What every export shares, whatever its format: :mod:`~alliancekit.exports.publish` writes a directory of
files to a hidden temporary sibling, has it audited, then publishes it with one atomic rename."""
