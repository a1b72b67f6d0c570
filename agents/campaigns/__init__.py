"""Campaigns and experiments: proactive invitations, their targeting, assignment to arms,
exposures, goals and honest statistics."""
