"""Starting the alert run lives in intake/ (shared with the Akku-stream detector); re-exported here."""

from intake.start import ACTORS_PER_RUN, StartedRun, alert_workflow_id, split, start_alert_run, summary

__all__ = ["ACTORS_PER_RUN", "StartedRun", "alert_workflow_id", "split", "start_alert_run", "summary"]
