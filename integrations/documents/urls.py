"""URL patterns of the documents channel, included by integrations.urls."""

from django.urls import path

from integrations.documents import api as documents

urlpatterns = [
    path("documents/", documents.DocumentUploadView.as_view(), name="ingest-documents"),
    path(
        "documents/proposals/",
        documents.ProposalListView.as_view(),
        name="ingest-document-proposals",
    ),
    path(
        "documents/proposals/<id:proposal_id>/",
        documents.ProposalDetailView.as_view(),
        name="ingest-document-proposal-detail",
    ),
    path(
        "documents/proposals/<id:proposal_id>/confirm/",
        documents.ProposalConfirmView.as_view(),
        name="ingest-document-proposal-confirm",
    ),
    path(
        "documents/proposals/<id:proposal_id>/reject/",
        documents.ProposalRejectView.as_view(),
        name="ingest-document-proposal-reject",
    ),
]
