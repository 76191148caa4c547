"""API routes, included by ``stylerec.urls`` under ``api/stylerec/`` (namespace ``stylerec``)."""

from django.urls import path

from stylerec.api import docs, views
from stylerec.api.schema import StylerecSchemaView

urlpatterns = [
    path("recommendations/", views.RecommendationsView.as_view(), name="api-recommendations"),
    path(
        "staff/recommendations/", views.StaffRecommendationsView.as_view(), name="api-staff-recommendations"
    ),
    path("events/", views.EventCreateView.as_view(), name="api-events"),
    path("me/styles/", views.MyStylesView.as_view(), name="api-my-styles"),
    path("me/export/", views.MyDataExportView.as_view(), name="api-my-export"),
    path("me/erase/", views.MyDataEraseView.as_view(), name="api-my-erase"),
    path("products/", views.ProductListView.as_view(), name="api-products"),
    path("products/<stylerec_id:pk>/", views.ProductDetailView.as_view(), name="api-product"),
    path(
        "products/<stylerec_id:pk>/reviews/", views.ProductReviewsView.as_view(), name="api-product-reviews"
    ),
    path("schema/", StylerecSchemaView.as_view(), name="api-schema"),
    path("docs/", docs.SwaggerDocsView.as_view(url_name="stylerec:api-schema"), name="api-docs"),
    path("docs/assets/<path:path>", docs.swagger_asset, name="api-docs-asset"),
]
