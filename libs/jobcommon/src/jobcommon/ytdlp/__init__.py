"""What the yt-dlp children of the downloader and the metadata service share.

Nothing here imports yt-dlp: its exceptions are recognised by class name (`failures`), so a service process
can use these modules without loading yt-dlp, and jobcommon does not depend on it.
"""
