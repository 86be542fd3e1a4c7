"""What members use: the member API, replies, matches, the organizers' view, the report, the web page."""
