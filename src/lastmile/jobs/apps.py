from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "lastmile.jobs"
    label = "jobs"
    verbose_name = "Deliveries and visits"

    def ready(self) -> None:
        from lastmile.core.events import grant_register
        from lastmile.invoices.selectors import CASE_JOBS
        from lastmile.jobs.selectors import jobs_of_case

        grant_register(CASE_JOBS, jobs_of_case)
